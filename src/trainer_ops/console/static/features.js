// The Features page: a refused switch (403, 404, 409, 422) is shown above the matrix. htmx does not
// swap error answers by itself; the console answers an htmx request's failure with a small problem
// fragment (_problem.html), which goes into the element named by the nearest data-problems.
(function () {
  "use strict";

  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    if (status < 400) { return; }
    var source = event.detail.requestConfig && event.detail.requestConfig.elt;
    var holder = source && source.closest("[data-problems]");
    var target = holder && document.getElementById(holder.getAttribute("data-problems"));
    if (!target) { return; }
    event.detail.shouldSwap = true;
    event.detail.isError = false;
    event.detail.target = target;
    event.detail.swapOverride = "innerHTML";
  });

  // A switch that went through clears the last refusal (its form may be gone: the row was replaced).
  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.xhr.status >= 400) { return; }
    document.querySelectorAll("[data-problems]").forEach(function (holder) {
      var target = document.getElementById(holder.getAttribute("data-problems"));
      if (target) { target.textContent = ""; }
    });
  });
})();
