// The import job page: poll the job's JSON status and update the progress bar in place
// (without JavaScript, the page's <noscript> meta refresh reloads it instead).
(function () {
  "use strict";
  var box = document.getElementById("job");
  if (!box) return;
  var url = box.getAttribute("data-status-url");
  var interval = parseInt(box.getAttribute("data-interval"), 10) || 2000;
  var bar = document.getElementById("job-bar");
  var stage = document.getElementById("job-stage");
  var summary = document.getElementById("job-summary");

  function rows(state) {
    var el = document.getElementById("job-rows");
    if (state.stage === "checking" && state.total) {
      if (!el) {
        el = document.createElement("span");
        el.id = "job-rows";
        stage.parentNode.appendChild(document.createTextNode(": "));
        stage.parentNode.appendChild(el);
      }
      el.textContent = state.done.toLocaleString("en-US") + " of about " +
        state.total.toLocaleString("en-US") + " rows";
    } else if (el) {
      el.textContent = "";
    }
  }

  function show(state) {
    if (state.next) { window.location.assign(state.next); return; }
    if (state.stalled) { window.location.reload(); return; }
    stage.textContent = state.stage_label;
    rows(state);
    if (state.percent === null) {
      bar.removeAttribute("value");
    } else {
      bar.value = state.percent;
    }
    bar.textContent = state.percent === null ? "" : state.percent + " %";
    summary.textContent = state.summary;
    window.setTimeout(poll, interval);
  }

  function poll() {
    fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
      .then(show)
      .catch(function () { window.setTimeout(poll, interval * 2); });
  }
  window.setTimeout(poll, interval);
}());
