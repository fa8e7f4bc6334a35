// Platforms: filter the cards while typing, copy the redirect URI.
// Without JavaScript the search form filters on the server instead.
(function () {
  var form = document.querySelector("[data-platform-search]");
  if (form) {
    var input = form.querySelector("input[type=search]");
    var status = document.getElementById("platform-search-status");
    var empty = document.querySelector("[data-platform-empty]");

    var filter = function () {
      var words = input.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      document.querySelectorAll("[data-platform-group]").forEach(function (group) {
        var inGroup = 0;
        group.querySelectorAll("[data-platform-card]").forEach(function (card) {
          var text = card.getAttribute("data-search");
          var underscored = text.replace(/_/g, " ");
          var match = words.every(function (word) {
            return text.indexOf(word) !== -1 || underscored.indexOf(word) !== -1;
          });
          card.hidden = !match;
          if (match) { inGroup += 1; }
        });
        group.hidden = inGroup === 0;
        shown += inGroup;
      });
      if (empty) {
        empty.hidden = shown > 0;
        empty.querySelector("[data-platform-query]").textContent = input.value.trim();
      }
      if (status) {
        status.textContent = words.length ? shown + " platform" + (shown === 1 ? "" : "s") + " shown." : "";
      }
    };

    input.addEventListener("input", filter);
  }

  document.querySelectorAll("[data-copy]").forEach(function (button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    var note = button.closest(".copy-field").querySelector("[data-copy-status]");
    button.hidden = false;
    button.addEventListener("click", function () {
      var done = function () { note.textContent = "Copied to the clipboard."; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(source.value).then(done, function () {
          source.select();
          note.textContent = "Press Ctrl+C (or ⌘C) to copy.";
        });
      } else {
        source.select();
        document.execCommand("copy");
        done();
      }
    });
  });
})();
