/* OneTrip face capture: progressive enhancement of a plain file-upload form.
 *
 * A form marked data-face-capture="enroll|challenge" keeps working as a
 * file upload without JavaScript (or without a camera, or outside a secure context). With
 * them, a "Use the camera" button shows the front camera; the capture button then takes
 * one photo (enroll) or a burst of frames while the page names each action of the form's
 * data-actions in turn (a challenge: "turn_left turn_right"), puts them
 * into the form's file input as JPEG files and submits the form, so the server sees the
 * same multipart post either way. Frames are drawn from the video track unmirrored (only
 * the preview is mirrored), which is what the server's left/right rule expects.
 * Its words come from the page, already translated: data-label-* attributes of the form
 * (the actions' names, or a page's own wording), else of this script's element (the
 * macros' face_script() writes them from the catalogue).
 * Served from 'self' with no inline code, so it runs under script-src 'self'.
 */
(function () {
  "use strict";

  var script = document.currentScript;

  var PER_ACTION = 7;
  var INTERVAL_MS = 180;
  var LEAD_IN_MS = 700;
  var MAX_SIDE = 640;

  function text(form, name) {
    var attribute = "data-label-" + name;
    return form.getAttribute(attribute) || (script && script.getAttribute(attribute)) || name;
  }

  function grabFrames(video, count, onFrame, done) {
    var scale = Math.min(1, MAX_SIDE / Math.max(video.videoWidth, video.videoHeight));
    var canvas = document.createElement("canvas");
    canvas.width = Math.round(video.videoWidth * scale);
    canvas.height = Math.round(video.videoHeight * scale);
    var context = canvas.getContext("2d");
    var files = new Array(count);
    var taken = 0;
    var encoded = 0;

    function grab() {
      var index = taken;
      onFrame(index);
      context.drawImage(video, 0, 0, canvas.width, canvas.height);
      canvas.toBlob(function (blob) {
        files[index] = new File([blob], "frame-" + index + ".jpg", { type: "image/jpeg" });
        encoded += 1;
        if (encoded === count) {
          done(files);
        }
      }, "image/jpeg", 0.88);
      taken += 1;
      if (taken < count) {
        window.setTimeout(grab, INTERVAL_MS);
      }
    }
    grab();
  }

  function enhance(form) {
    var action = form.getAttribute("data-face-capture");
    var input = form.querySelector('input[type="file"]');
    var media = navigator.mediaDevices;
    if (!input || !media || !media.getUserMedia || typeof DataTransfer === "undefined") {
      return;
    }
    var panel = document.createElement("div");
    panel.className = "face-capture";
    var video = document.createElement("video");
    video.setAttribute("playsinline", "");
    video.muted = true;
    video.hidden = true;
    video.style.width = "100%";
    video.style.maxWidth = "28rem";
    video.style.transform = "scaleX(-1)";
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = text(form, "camera");
    var status = document.createElement("p");
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    panel.appendChild(video);
    panel.appendChild(button);
    panel.appendChild(status);
    input.parentNode.insertBefore(panel, input);
    var stream = null;

    function stop() {
      if (stream) {
        stream.getTracks().forEach(function (track) { track.stop(); });
      }
    }

    button.addEventListener("click", function () {
      if (!stream) {
        media.getUserMedia({ video: { facingMode: "user", width: { ideal: 1280 } }, audio: false })
          .then(function (s) {
            stream = s;
            video.srcObject = s;
            video.hidden = false;
            video.play();
            button.textContent = text(form, "capture");
          })
          .catch(function () {
            status.textContent = text(form, "denied");
            button.hidden = true;
          });
        return;
      }
      button.disabled = true;
      var steps = (form.getAttribute("data-actions") || "").split(" ").filter(Boolean);
      var count = action === "challenge" ? PER_ACTION * steps.length + 1 : 1;
      status.textContent = text(form, "ready");
      window.setTimeout(function () {
        grabFrames(video, count, function (index) {
          var step = steps[Math.floor(index / PER_ACTION)];
          if (step && index % PER_ACTION === 0) {
            status.textContent = text(form, "act") + " " + text(form, step);
          }
        }, function (files) {
          var transfer = new DataTransfer();
          files.forEach(function (file) { transfer.items.add(file); });
          input.files = transfer.files;
          stop();
          status.textContent = text(form, "sending");
          if (form.requestSubmit) {
            form.requestSubmit();
          } else {
            form.submit();
          }
        });
      }, count > 1 ? LEAD_IN_MS : 0);
    });
    window.addEventListener("pagehide", stop);
  }

  function init() {
    var forms = document.querySelectorAll("form[data-face-capture]");
    Array.prototype.forEach.call(forms, enhance);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
