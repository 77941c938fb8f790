// renewflow console: the step chat's streamed answers (task mode). The message form posts with
// fetch asking for Server-Sent Events, on the session cookie with the CSRF token in a header;
// the answer is written into the conversation as it streams, then the page shows the stored
// conversation (sources, charts, tables). An answer that is a page (a branch ran, a refusal) is
// swapped in as htmx would. Without fetch streaming the form posts plainly. No library.
(function () {
  "use strict";

  function csrfToken() {
    try {
      return JSON.parse(document.body.getAttribute("hx-headers") || "{}")["X-CSRF-Token"] || "";
    } catch (e) { return ""; }
  }

  function focusIn(root, selector) {
    var el = root.querySelector("[autofocus]") || (selector && root.querySelector(selector)) || root.querySelector("h1");
    if (!el) { return; }
    if (!el.hasAttribute("tabindex") && !/^(INPUT|SELECT|TEXTAREA|BUTTON|A)$/.test(el.tagName)) { el.setAttribute("tabindex", "-1"); }
    el.focus();
  }

  function swapMain(html, selector) {
    var main = document.getElementById("main");
    main.innerHTML = html;
    if (window.htmx) { window.htmx.process(main); }
    focusIn(main, selector);
  }

  function followed(response) {
    var to = response.headers.get("HX-Redirect");
    if (to) { window.location.assign(to); return true; }
    return false;
  }

  function showPage(url, selector) {
    return fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then(function (response) {
        if (followed(response)) { return null; }
        return response.text().then(function (html) { swapMain(html, selector); });
      });
  }

  function bubble(log, role, who, text) {
    var item = document.createElement("li");
    item.className = "msg msg-" + role + " msg-type-text";
    var label = document.createElement("p");
    label.className = "msg-who";
    label.textContent = who;
    var body = document.createElement("div");
    body.className = "msg-text";
    body.textContent = text;  // text, never markup: a model's answer is not HTML
    item.appendChild(label);
    item.appendChild(body);
    var empty = log.querySelector(".msg-empty");
    if (empty) { empty.remove(); }
    log.appendChild(item);
    return item;
  }

  function logFor(form) {
    var log = document.getElementById("chat-log");
    if (log) { return log; }
    var region = document.createElement("div");
    region.className = "chat-log-region";
    region.setAttribute("role", "log");
    region.setAttribute("aria-label", "The conversation");
    log = document.createElement("ol");
    log.className = "chat-log";
    log.id = "chat-log";
    region.appendChild(log);
    form.parentNode.insertBefore(region, form);
    return log;
  }

  // Server-Sent Events: blocks separated by a blank line, `event:` and `data:` lines
  function parse(buffer, handle) {
    var blocks = buffer.split("\n\n");
    var rest = blocks.pop();
    blocks.forEach(function (block) {
      var name = "message";
      var data = "";
      block.split("\n").forEach(function (line) {
        if (line.indexOf("event:") === 0) { name = line.slice(6).trim(); }
        else if (line.indexOf("data:") === 0) { data += line.slice(5).replace(/^ /, ""); }
      });
      if (data) { handle(name, JSON.parse(data)); }
    });
    return rest;
  }

  function send(form) {
    var box = form.querySelector("textarea[name=text]");
    var status = form.querySelector("[data-chat-status]");
    var button = form.querySelector("button[type=submit]");
    var body = new URLSearchParams(new FormData(form));
    var text = box.value;
    var log = logFor(form);
    var region = log.parentNode;
    bubble(log, "user", "You", text);
    var answer = bubble(log, "assistant", "Assistant", "");
    answer.classList.add("msg-streaming");
    var written = answer.querySelector(".msg-text");
    region.setAttribute("aria-busy", "true");
    form.setAttribute("aria-busy", "true");
    box.value = "";
    box.disabled = true;
    status.textContent = "Waiting for the answer…";

    function failed(detail, page) {
      answer.classList.remove("msg-streaming");
      answer.classList.add("msg-error");
      written.textContent = detail;
      region.removeAttribute("aria-busy");
      form.removeAttribute("aria-busy");
      box.disabled = false;
      box.value = text;
      if (button) { button.disabled = false; button.removeAttribute("aria-busy"); }
      status.textContent = detail;
      if (page) { answer.setAttribute("data-page", page); }
    }

    fetch(form.action, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "Accept": "text/event-stream", "HX-Request": "true", "X-CSRF-Token": csrfToken() }
    }).then(function (response) {
      if (followed(response)) { return null; }
      var type = response.headers.get("content-type") || "";
      if (type.indexOf("text/event-stream") !== 0) {  // a page: a branch ran, or a refusal
        return response.text().then(function (html) { swapMain(html, "#chat-exchange"); });
      }
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = "";
      var last = null;
      function pump() {
        return reader.read().then(function (chunk) {
          if (chunk.done) { return; }
          buffer = parse(buffer + decoder.decode(chunk.value, { stream: true }), function (name, data) {
            if (name === "delta") {
              written.textContent += data.text;
              status.textContent = "Answering…";
            } else {
              last = { name: name, data: data };
            }
          });
          return pump();
        });
      }
      return pump().then(function () {
        if (last && last.name === "message") {
          status.textContent = "Answered.";
          return showPage(last.data.page, "#chat-last");
        }
        failed(last ? last.data.detail : "The answer was cut off. Reload the page to see it.", last && last.data.page);
        return null;
      });
    }).catch(function () {
      failed("The answer did not arrive: check the connection, then reload the page.", null);
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-chat-stream]")) { return; }
    if (!window.fetch || !window.TextDecoder || !window.ReadableStream || !window.URLSearchParams) { return; }
    event.preventDefault();
    send(form);
  });

  // Enter sends the message, Shift+Enter starts a new line
  document.addEventListener("keydown", function (event) {
    var box = event.target;
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) { return; }
    if (!box.matches || !box.matches("form[data-chat-stream] textarea")) { return; }
    event.preventDefault();
    if (box.value.trim() && box.form.requestSubmit) { box.form.requestSubmit(); }
  });
})();
