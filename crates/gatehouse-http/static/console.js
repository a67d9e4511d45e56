// Admin console: copy buttons. A button with data-copy="ID" copies the text of the element
// with that id to the clipboard. The buttons are hidden until this script shows them, so
// without JavaScript nothing that does not work is offered.
"use strict";
document.querySelectorAll("button[data-copy]").forEach(function (button) {
  var target = document.getElementById(button.getAttribute("data-copy"));
  if (!target || !navigator.clipboard) {
    return;
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    navigator.clipboard.writeText(target.textContent).then(function () {
      button.textContent = "Copied";
    }, function () {
      button.textContent = "Copy failed: select the text";
    });
  });
});
