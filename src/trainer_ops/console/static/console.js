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

  rememberTimeZone();
  document.addEventListener("click", onCopy);
  document.addEventListener("input", onConfirmInput);
})();
