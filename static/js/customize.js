// Customize: keep the preview in step with the form; tick or untick all
// platforms. The form saves the same way with JavaScript off.
(function () {
  var preview = document.querySelector("[data-link-preview]");
  var showTitle = document.getElementById("id_show_title");
  var title = document.getElementById("id_title");
  var logoInput = document.getElementById("id_logo");
  if (!preview || !showTitle || !title) { return; }

  var heading = preview.querySelector("[data-link-title]");
  var logo = preview.querySelector("[data-link-logo]");
  var fallback = preview.getAttribute("data-organisation-name");
  var chosenLogo = null;

  var showHeading = function () {
    heading.textContent = title.value.trim() || fallback;
    heading.hidden = !showTitle.checked;
  };
  showTitle.addEventListener("change", showHeading);
  title.addEventListener("input", showHeading);
  showHeading();

  if (logoInput) {
    logoInput.addEventListener("change", function () {
      var file = logoInput.files && logoInput.files[0];
      if (chosenLogo) { URL.revokeObjectURL(chosenLogo); chosenLogo = null; }
      if (!file || !/^image\/(png|jpeg|webp|gif)$/.test(file.type)) { return; }
      chosenLogo = URL.createObjectURL(file);
      logo.src = chosenLogo;
      logo.hidden = false;
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
