"""localstripe as the Stripe API for billing tests: one process per session on a free loopback port,
started from scratch; each test points settings at it and syncs the catalog's plans into it."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
import stripe
from django.core.management import call_command

from tests.ops.processes import die_with_parent

WEBHOOK_SECRET = "whsec_praetor_test"
GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
FAILS_LATER_CARD = "4000000000000341"  # attaches fine, every charge is declined


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def localstripe_url():
    port = _free_port()
    workdir = tempfile.mkdtemp(prefix="localstripe-")
    log = open(Path(workdir) / "localstripe.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "localstripe", "--port", str(port), "--from-scratch"],
        stdout=log, stderr=subprocess.STDOUT, cwd=workdir, preexec_fn=die_with_parent(signal.SIGKILL),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/js.stripe.com/v3/", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"localstripe did not start on port {port}; see {log.name}")
        time.sleep(0.2)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture
def stripe_settings(settings, localstripe_url):
    settings.STRIPE_API_BASE = localstripe_url
    settings.STRIPE_API_KEY = "sk_test_praetor"
    settings.STRIPE_PUBLISHABLE_KEY = "pk_test_praetor"
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    settings.STRIPE_JS_URL = f"{localstripe_url}/js.stripe.com/v3/"
    settings.STRIPE_MAX_NETWORK_RETRIES = 0
    return settings


@pytest.fixture
def stripe_catalog(db, stripe_settings, stripe_api):
    """The purchasable tiers' products and plans, created in localstripe (idempotent)."""
    call_command("billing_sync_stripe", stdout=open("/dev/null", "w"))  # noqa: SIM115
    return stripe_settings


@pytest.fixture
def stripe_api(stripe_settings):
    """The `stripe` library pointed at localstripe, for the test to act as Stripe.js or Stripe itself."""
    stripe.api_key = stripe_settings.STRIPE_API_KEY
    stripe.api_base = stripe_settings.STRIPE_API_BASE
    return stripe


def make_payment_method(number: str = GOOD_CARD) -> str:
    """What Stripe.js does in the browser: the card goes to Stripe, we only ever see the pm_ id."""
    pm = stripe.PaymentMethod.create(type="card", card={"number": number, "exp_month": 12, "exp_year": 2030,
                                                        "cvc": "123"})
    return pm["id"]


def signed_event(event: dict, secret: str = WEBHOOK_SECRET) -> tuple[bytes, str]:
    """A payload and Stripe-Signature header exactly as Stripe signs webhook deliveries."""
    payload = json.dumps(event).encode()
    timestamp = int(time.time())
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256).hexdigest()
    return payload, f"t={timestamp},v1={signature}"


def event_for(obj, type_: str, event_id: str | None = None) -> dict:
    return {
        "id": event_id or f"evt_test_{hashlib.sha1(f'{type_}{time.time_ns()}'.encode()).hexdigest()[:16]}",
        "object": "event", "type": type_, "created": int(time.time()), "api_version": "2020-08-27",
        "data": {"object": json.loads(str(obj)) if isinstance(obj, stripe.StripeObject) else obj},
    }


def fail_a_renewal(stripe_api, row) -> str:
    """Make Stripe bill the subscription now while its card declines; return the open invoice's id.

    localstripe has no clock to renew on; it bills at once when the billing interval changes, and a
    declined charge then makes the subscription past_due, as a failed renewal does in Stripe.
    """
    with contextlib.suppress(stripe_api.StripeError):  # made by an earlier test in this localstripe session
        stripe_api.Plan.create(id="test_starter_yearly", product="praetor_starter", amount=20000, currency="usd",
                               interval="year")
    item = stripe_api.Subscription.retrieve(row.stripe_subscription_id)["items"]["data"][0]
    stripe_api.Subscription.modify(row.stripe_subscription_id,
                                   items=[{"id": item["id"], "plan": "test_starter_yearly", "quantity": 1}])
    invoices = stripe_api.Invoice.list(customer=row.stripe_customer_id)["data"]
    return next(i["id"] for i in invoices if i["status"] == "open")
