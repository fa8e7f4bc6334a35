// Customize: keep the preview frame in step with the form; tick or untick
// all platforms. The form saves the same way with JavaScript off.
(function () {
  var frame = document.querySelector("[data-link-preview-frame]");
  var showTitle = document.getElementById("id_show_title");
  var title = document.getElementById("id_title");
  var logoInput = document.getElementById("id_logo");
  var chosenLogo = null;

  var previewDocument = function () {
    try { return frame.contentDocument; } catch (error) { return null; }
  };

  var currentTitle = function () {
    if (!showTitle.checked) { return ""; }
    return title.value.trim() || frame.getAttribute("data-organisation-name");
  };

  var update = function () {
    var doc = previewDocument();
    if (!doc || !doc.querySelector("[data-link-preview]")) { return; }
    var text = currentTitle();
    doc.querySelectorAll("[data-link-title]").forEach(function (node) {
      node.textContent = text || node.getAttribute("data-link-untitled") || "";
    });
    doc.querySelectorAll("[data-link-if-title]").forEach(function (node) {
      node.hidden = !text;
    });
    var logo = doc.querySelector("[data-link-logo]");
    if (!logo.hasAttribute("data-saved-src")) {
      logo.setAttribute("data-saved-src", logo.getAttribute("src"));
    }
    var saved = logo.getAttribute("data-saved-src");
    logo.src = chosenLogo || saved;
    logo.hidden = !(chosenLogo || saved);
  };

  if (frame && showTitle && title) {
    frame.addEventListener("load", update);
    showTitle.addEventListener("change", update);
    title.addEventListener("input", update);
    update();
  }

  if (frame && logoInput) {
    logoInput.addEventListener("change", function () {
      var file = logoInput.files && logoInput.files[0];
      if (chosenLogo) { URL.revokeObjectURL(chosenLogo); chosenLogo = null; }
      if (file && /^image\/(png|jpeg|webp|gif)$/.test(file.type)) {
        chosenLogo = URL.createObjectURL(file);
      }
      update();
    });
  }

  var toggles = document.querySelector("[data-toggle-all]");
  if (toggles) {
    toggles.hidden = false;
    toggles.addEventListener("click", function (event) {
      var choice = event.target.getAttribute("data-check");
      if (!choice) { return; }
      document.querySelectorAll(".platform-checks input[type=checkbox]").forEach(function (box) {
        box.checked = choice === "all";
      });
    });
  }
})();
