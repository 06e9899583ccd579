/* Forms generated from JSON Schema (apps/web/schema_forms.py), loaded with defer on the pages that show one.
   An optional nested object (<fieldset data-optional-group>) may be left entirely empty; once any of its
   fields is filled in, its required fields ([data-required-when-given]) are required. The server checks the
   same rule (SchemaForm.clean); this only tells the person before they submit. Without JavaScript the form
   posts and the server answers with the same messages. */
(function () {
  "use strict";
  var MESSAGE = "This field is required.";

  function filled(el) {
    if (el.type === "checkbox") { return el.checked !== (el.getAttribute("data-default-checked") === "true"); }
    if (el.type === "hidden" || el.type === "submit" || el.type === "button") { return false; }
    return el.value !== "";
  }

  function groupGiven(fieldset) {
    return Array.prototype.some.call(fieldset.querySelectorAll("input, select, textarea"), filled);
  }

  // Required now: every optional group around the field is given.
  function requiredNow(el) {
    var group = el.closest("fieldset[data-optional-group]");
    while (group) {
      if (!groupGiven(group)) { return false; }
      group = group.parentElement ? group.parentElement.closest("fieldset[data-optional-group]") : null;
    }
    return true;
  }

  function errorId(el) { return el.id + "_errors"; }

  function describedBy(el, add) {
    var ids = (el.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (id) {
      return id && id !== errorId(el);
    });
    if (add) { ids.push(errorId(el)); }
    if (ids.length) { el.setAttribute("aria-describedby", ids.join(" ")); } else { el.removeAttribute("aria-describedby"); }
  }

  function showError(el) {
    var list = document.getElementById(errorId(el));
    if (!list) {
      list = document.createElement("ul");
      list.className = "errors";
      list.id = errorId(el);
      list.setAttribute("data-client", "true");
      var item = document.createElement("li");
      item.textContent = MESSAGE;
      list.appendChild(item);
      el.closest(".field").appendChild(list);
    }
    el.closest(".field").classList.add("field-invalid");
    el.setAttribute("aria-invalid", "true");
    describedBy(el, true);
  }

  function clearError(el) {
    var list = document.getElementById(errorId(el));
    if (list && list.getAttribute("data-client") === "true") {
      list.remove();
      el.closest(".field").classList.remove("field-invalid");
      el.removeAttribute("aria-invalid");
      describedBy(el, false);
    }
  }

  function refresh(form) {
    Array.prototype.forEach.call(form.querySelectorAll("[data-required-when-given]"), function (el) {
      var needed = requiredNow(el);
      el.required = needed;
      el.setAttribute("aria-required", needed ? "true" : "false");
      if (!needed || el.value !== "") { clearError(el); }
    });
  }

  function check(event) {
    var form = event.target;
    refresh(form);
    var missing = Array.prototype.filter.call(form.querySelectorAll("[data-required-when-given]"), function (el) {
      return el.required && el.value === "";
    });
    missing.forEach(showError);
    if (missing.length) {
      event.preventDefault();
      missing[0].focus();
    }
  }

  function setUp() {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-schema-form]"), function (form) {
      refresh(form);
      form.addEventListener("input", function () { refresh(form); });
      form.addEventListener("change", function () { refresh(form); });
      form.addEventListener("submit", check);
    });
  }

  document.addEventListener("DOMContentLoaded", setUp);
})();
