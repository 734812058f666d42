// The console's own script: small behaviours htmx does not cover. No inline scripts exist (CSP).
(function () {
  "use strict";

  // Times are rendered by the server in the operator's time zone, which it learns from this cookie.
  function rememberTimeZone() {
    var zone;
    try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
    if (!zone) { return; }
    var wanted = "trainer_ops_tz=" + encodeURIComponent(zone);
    if (document.cookie.split("; ").indexOf(wanted) === -1) {
      document.cookie = wanted + "; path=/console; max-age=31536000; SameSite=Strict";
    }
  }

  // <button data-copy="ID">: copies the text of element ID (a token shown once, a hash).
  function onCopy(event) {
    var button = event.target.closest("[data-copy]");
    if (!button) { return; }
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source || !navigator.clipboard) { return; }
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      var done = button.getAttribute("data-copied");
      if (done) { button.textContent = done; }
    });
  }

  // <input data-confirm-for="BUTTON_ID" data-confirm-value="1.0.4">: the button stays disabled until
  // the operator has typed the value (a rollback's version). The server checks it again.
  function onConfirmInput(event) {
    var input = event.target;
    if (!input.matches || !input.matches("[data-confirm-for]")) { return; }
    var button = document.getElementById(input.getAttribute("data-confirm-for"));
    if (button) { button.disabled = input.value.trim() !== input.getAttribute("data-confirm-value"); }
  }

  // With scripts, such a button starts disabled; without them it stays usable and the server checks.
  function armConfirmations() {
    var inputs = document.querySelectorAll("[data-confirm-for]");
    for (var i = 0; i < inputs.length; i++) { onConfirmInput({ target: inputs[i] }); }
  }

  // htmx does not swap error answers by itself. The console answers an htmx request's failure with a
  // small problem fragment (_problem.html); it goes into the element named by the nearest
  // data-problems="ID" around the control that made the request. A later success clears it.
  function onBeforeSwap(event) {
    if (event.detail.xhr.status < 400) { return; }
    var source = event.detail.requestConfig && event.detail.requestConfig.elt;
    var holder = source && source.closest("[data-problems]");
    var target = holder && document.getElementById(holder.getAttribute("data-problems"));
    if (!target) { return; }
    event.detail.shouldSwap = true;
    event.detail.isError = false;
    event.detail.target = target;
    event.detail.swapOverride = "innerHTML";
  }

  function onAfterRequest(event) {
    if (event.detail.xhr.status >= 400) { return; }
    document.querySelectorAll("[data-problems]").forEach(function (holder) {
      var target = document.getElementById(holder.getAttribute("data-problems"));
      if (target) { target.textContent = ""; }
    });
  }

  rememberTimeZone();
  document.addEventListener("htmx:beforeSwap", onBeforeSwap);
  document.addEventListener("htmx:afterRequest", onAfterRequest);
  armConfirmations();
  document.addEventListener("click", onCopy);
  document.addEventListener("input", onConfirmInput);
})();
