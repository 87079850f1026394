// The benchmark's baseline: a bare Worker that forwards every request to UPSTREAM_URL,
// with no key check, no Durable Object and no metering.
export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    return fetch(env.UPSTREAM_URL.replace(/\/$/, "") + url.pathname + url.search, {
      method: request.method,
      headers: request.headers,
      body: request.body,
    });
  },
};
