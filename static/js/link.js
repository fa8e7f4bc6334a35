// Link's small enhancements: filter the platform list as people type, and
// hand the result to the page that opened Link (the SDK listens for it).
(function () {
  "use strict";

  function filterPlatforms(input) {
    var list = document.querySelector("[data-platform-list]");
    var empty = document.querySelector("[data-platform-empty]");
    if (!list) return;
    var wanted = input.value.trim().toLowerCase();
    var shown = 0;
    list.querySelectorAll("li").forEach(function (item) {
      var names = item.getAttribute("data-platform-name") || "";
      var match = !wanted || names.indexOf(wanted) !== -1 ||
        names.indexOf(wanted.replace(/ /g, "_")) !== -1;
      item.hidden = !match;
      if (match) shown += 1;
    });
    if (empty) empty.hidden = shown > 0;
  }

  function postToOpener() {
    var data = document.getElementById("link-message");
    var target = document.querySelector("[data-link-origin]");
    if (!data || !target || !window.opener) return false;
    // Never "*": only the origin that opened Link may read the token.
    var origin = target.getAttribute("data-link-origin");
    window.opener.postMessage(data.textContent, origin);
    return true;
  }

  // A second click while the first submission is on its way would connect
  // twice; the buttons stay enabled so the clicked one's value is sent.
  document.querySelectorAll("form[method=post]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.getAttribute("data-sent")) event.preventDefault();
      form.setAttribute("data-sent", "true");
    });
  });

  var search = document.querySelector("[data-platform-filter]");
  if (search) {
    search.addEventListener("input", function () { filterPlatforms(search); });
  }

  var posted = postToOpener();
  var onward = document.querySelector("[data-link-continue]");
  if (onward) {
    window.location.replace(onward.href);
  } else if (posted) {
    var hint = document.querySelector("[data-link-close-hint]");
    if (hint) hint.textContent = "Done. This window will close.";
    // Long enough to read "Connected"; the SDK only closes it on EXIT.
    window.setTimeout(function () { window.close(); }, 1500);
  }
})();
