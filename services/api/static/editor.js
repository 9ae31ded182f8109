// Live preview for the template editor (services/api/pages/html/template_edit.html).
// Every edit or sample change re-renders through POST /v1/templates/preview, debounced; the
// session cookie authenticates and the X-CSRF-Token header proves the request came from this page.
// Only the newest answer is shown, so a slow response never overwrites a newer one.
(function () {
  "use strict";
  var form = document.getElementById("editor-form");
  if (!form) return;
  var preview = document.getElementById("preview");
  var errors = document.getElementById("errors");
  var csrf = form.dataset.csrf;
  var channel = form.dataset.channel;
  var sequence = 0;
  var timer = null;

  function value(id) {
    var element = document.getElementById(id);
    return element ? element.value : null;
  }

  function request() {
    var sources = {};
    form.querySelectorAll("textarea[data-file]").forEach(function (area) {
      sources[area.dataset.file] = area.value;
    });
    return {
      channel: channel,
      reason: form.dataset.reason,
      sources: sources,
      sample: {
        reason: value("sample-reason"),
        bucket: value("sample-bucket"),
        items: parseInt(value("sample-items"), 10),
        longest: sampleSize().dataset.longest === "true",
        returning: value("sample-returning") === "true",
        locale: value("sample-locale"),
        incentive: value("sample-incentive"),
        touch: parseInt(value("sample-touch"), 10),
        first_name: value("sample-first-name") !== "false"
      }
    };
  }

  function sampleSize() {
    var select = document.getElementById("sample-items");
    return (select && select.options[select.selectedIndex]) || { dataset: {} };
  }

  function setText(id, text) {
    var element = document.getElementById(id);
    if (element) element.textContent = text == null ? "" : text;
  }

  function showErrors(list) {
    errors.textContent = "";
    list.forEach(function (problem) {
      var item = document.createElement("li");
      item.className = "problem";
      item.dataset.file = problem.file || "";
      item.dataset.line = problem.line == null ? "" : String(problem.line);
      var where = (problem.file || "template") + (problem.line != null ? " line " + problem.line : "");
      item.textContent = where + ": " + problem.message;
      errors.appendChild(item);
    });
  }

  function show(result) {
    showErrors(result.errors || []);
    var failed = (result.errors || []).length > 0;
    var rendered = result.subject != null || result.text != null || result.html != null || result.payload != null;
    if (rendered) {
      if (channel === "email") {
        setText("preview-subject", result.subject);
        document.getElementById("preview-html").srcdoc = result.html || "";
        setText("preview-text", result.text);
      } else if (channel === "sms") {
        setText("preview-sms", result.text);
        var sms = result.sms;
        setText("sms-count", sms ? sms.characters + " characters · " + sms.segments + " segment" +
          (sms.segments === 1 ? "" : "s") + " · " + sms.encoding + " (budget " + sms.budget + ")" : "");
      } else if (channel === "push") {
        setText("preview-push-title", result.subject);
        setText("preview-push-body", result.text);
        var push = result.push;
        setText("push-count", push ? "title " + push.title_chars + "/" + push.title_max + " · body " +
          push.body_chars + "/" + push.body_max : "");
      } else {
        setText("preview-payload", result.payload ? JSON.stringify(result.payload, null, 2) : "");
      }
    }
    preview.dataset.state = failed ? "error" : "ok";
    preview.dataset.renders = String(parseInt(preview.dataset.renders || "0", 10) + 1);
  }

  function refresh() {
    var mine = ++sequence;
    preview.dataset.state = "pending";
    fetch(form.dataset.previewUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json" },
      body: JSON.stringify(request())
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) {
          var detail = Array.isArray(body.detail) ? body.detail : [{ message: body.detail || response.statusText }];
          return { errors: detail };
        }
        return body;
      });
    }).then(function (result) {
      if (mine === sequence) show(result);
    }).catch(function (error) {
      if (mine === sequence) show({ errors: [{ message: "preview failed: " + error }] });
    });
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  }

  form.querySelectorAll("textarea[data-file]").forEach(function (area) {
    area.addEventListener("input", schedule);
  });
  document.querySelectorAll(".samples select").forEach(function (select) {
    select.addEventListener("change", schedule);
  });

  var sendButton = document.getElementById("test-send");
  if (sendButton) {
    sendButton.addEventListener("click", function () {
      var body = request();
      setText("test-send-result", "Sending...");
      fetch(form.dataset.testSendUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, "Accept": "application/json" },
        body: JSON.stringify({ to: value("test-to"), sample: body.sample })
      }).then(function (response) {
        return response.json().then(function (result) {
          setText("test-send-result", response.ok ? "Sent to " + result.to + " (saved version, marked [TEST])."
            : "Not sent: " + (typeof result.detail === "string" ? result.detail : JSON.stringify(result.detail)));
        });
      }).catch(function (error) {
        setText("test-send-result", "Not sent: " + error);
      });
    });
  }
})();
