"""A buyer's path through Stripe's own Python SDK, pointed at the emulated Stripe of a
running `tollgate dev` as a user points their own code at it: nothing pinned, the SDK
sends its own Stripe-Version. Prints what it saw as one JSON object for the Rust test
(tests/tests/stripe_python_sdk.rs) to check.

Usage: scenario.py BASE_URL SECRET_KEY
"""

import json
import sys
import urllib.parse
import urllib.request

import stripe

base, key = sys.argv[1], sys.argv[2]
stripe.api_key = key
stripe.api_base = f"{base}/stripe"
stripe.max_network_retries = 0
seen = {"sdk_version": stripe.VERSION, "sdk_api_version": stripe.api_version}

# Customers, with idempotency: the same key and parameters answer the first customer again;
# other parameters under that key are Stripe's IdempotencyError.
first = stripe.Customer.create(email="sdk@example.com", idempotency_key="sdk-customer-1")
again = stripe.Customer.create(email="sdk@example.com", idempotency_key="sdk-customer-1")
seen["idempotent_replay"] = first.id == again.id
seen["answered_version"] = first.last_response.headers.get("stripe-version")
try:
    stripe.Customer.create(email="other@example.com", idempotency_key="sdk-customer-1")
    seen["idempotency_error"] = None
except stripe.IdempotencyError as error:
    seen["idempotency_error"] = type(error).__name__

# Errors as Stripe's types, with their codes.
try:
    stripe.Customer.retrieve("cus_nobody")
except stripe.InvalidRequestError as error:
    seen["missing"] = {"type": type(error).__name__, "code": error.code, "status": error.http_status}
try:
    stripe.Customer.list(api_key="sk_test_wrong")
except stripe.AuthenticationError as error:
    seen["wrong_key"] = {"type": type(error).__name__, "status": error.http_status}

# Checkout for a catalog price, paid on the emulated Checkout page as its form pays.
price = stripe.Price.list(lookup_keys=["api_pro_monthly"]).data[0]
session = stripe.checkout.Session.create(
    mode="subscription",
    customer=first.id,
    client_reference_id="user_sdk",
    line_items=[{"price": price.id, "quantity": 1}],
    success_url=f"{base}/checkout/success",
    metadata={"account_id": "user_sdk", "sku": "api_pro"},
    subscription_data={"metadata": {"account_id": "user_sdk", "sku": "api_pro"}},
)
form = urllib.parse.urlencode({"card": "4242424242424242"}).encode()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


try:
    urllib.request.build_opener(NoRedirect).open(session.url, data=form)
except urllib.error.HTTPError as answer:
    seen["paid_status"] = answer.code
seen["session_status"] = stripe.checkout.Session.retrieve(session.id).status

# What it made, listed as Stripe lists: subscriptions, invoices, events paged newest first.
subscriptions = stripe.Subscription.list(customer=first.id).data
seen["subscription_status"] = subscriptions[0].status if subscriptions else None
invoice = stripe.Invoice.list(customer=first.id).data[0]
seen["invoice"] = {"status": invoice.status, "amount_paid": invoice.amount_paid}
events = list(stripe.Event.list(limit=3).auto_paging_iter())
seen["events"] = len(events)
seen["events_unique"] = len({event.id for event in events}) == len(events)
seen["event_types"] = sorted({event.type for event in events})

# A partial refund of that payment.
intent = invoice.payments.data[0].payment.payment_intent
refund = stripe.Refund.create(payment_intent=intent, amount=500)
seen["refund"] = {"status": refund.status, "amount": refund.amount, "payment_intent": intent}
try:
    stripe.Refund.create(payment_intent=intent, amount=1_000_000)
except stripe.InvalidRequestError as error:
    seen["too_much"] = {"type": type(error).__name__, "code": error.code, "param": error.param}

print(json.dumps(seen))
