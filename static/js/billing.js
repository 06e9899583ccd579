/* The Billing page's card form. Stripe.js (loaded from settings.STRIPE_JS_URL) mounts the card fields;
   on submit we ask our server for a SetupIntent, Stripe.js confirms it with the card directly at Stripe,
   and only the resulting payment method id (pm_…) is posted to us. The card never reaches our server. */
(function () {
  "use strict";
  var form = document.querySelector("form[data-card-form]");
  if (!form) { return; }
  var status = form.querySelector("[data-card-status]");
  var button = form.querySelector("button[type=submit]");
  var say = function (text) { status.textContent = text; };

  if (typeof window.Stripe !== "function") {
    say("The card form could not be loaded from Stripe. Reload the page to try again.");
    button.disabled = true;
    return;
  }
  var stripe = window.Stripe(form.dataset.publishableKey);
  var card = stripe.elements().create("card");
  card.mount(form.querySelector("[data-card-element]"));

  var csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  var busy = false;

  function message(error) {
    // Stripe's errors carry a message meant for the person paying; a script error means the fields are incomplete.
    if (error && error.message && !(error instanceof Error)) { return error.message; }
    return "Enter the card number, expiry date, CVC and postal code.";
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (busy) { return; }
    busy = true;
    button.disabled = true;
    say("Checking the card with Stripe…");
    fetch(form.dataset.setupUrl, {
      method: "POST", credentials: "same-origin",
      headers: {"X-CSRFToken": csrf, "Accept": "application/json"}
    }).catch(function () {
      throw {message: "The server could not be reached. Check the connection and try again."};
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok || !body.client_secret) {
          // A signed-out session is redirected to the sign-in page (HTML): say what to do about it.
          throw {message: body.detail || "The card form is not available right now: reload the page and try again."};
        }
        return stripe.confirmCardSetup(body.client_secret, {payment_method: {card: card}});
      });
    }).then(function (result) {
      if (result.error) { throw {message: message(result.error)}; }
      var pm = result.setupIntent.payment_method;
      form.querySelector("input[name=payment_method_id]").value = typeof pm === "string" ? pm : pm.id;
      say("Card accepted. One moment…");
      form.submit();  // a native submit: this handler does not run again
    }).catch(function (error) {
      say(message(error));
      busy = false;
      button.disabled = false;
    });
  });
})();
