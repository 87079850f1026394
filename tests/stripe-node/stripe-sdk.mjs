// Signs and verifies webhook payloads with Stripe's official Node SDK, for tollgate's
// signature tests. Reads a JSON array of cases on stdin, writes one result per case:
//   {"op":"sign","payload","secret","timestamp","scheme"?} -> the Stripe-Signature header
//   {"op":"verify","payload","header","secret"}            -> "ok" or the SDK's error type
import Stripe from 'stripe';

const stripe = new Stripe('sk_test_signatures_only');

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const cases = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const results = cases.map((c) => {
  if (c.op === 'sign') {
    return stripe.webhooks.generateTestHeaderString({
      payload: c.payload,
      secret: c.secret,
      timestamp: c.timestamp,
      scheme: c.scheme ?? 'v1',
    });
  }
  try {
    stripe.webhooks.constructEvent(Buffer.from(c.payload, 'utf8'), c.header, c.secret);
    return 'ok';
  } catch (error) {
    return error.type ?? error.name ?? String(error);
  }
});
process.stdout.write(JSON.stringify(results));
