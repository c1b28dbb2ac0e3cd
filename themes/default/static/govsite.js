/* Care mode (关怀版) controls: switch, text size, high contrast, large pointer, read aloud.
   Settings persist in localStorage, so they follow the reader from page to page.
   Without JavaScript none of these controls appear and every page reads as usual. */
(function () {
  "use strict";
  var root = document.documentElement;
  var store = {
    get: function (k) { try { return window.localStorage.getItem(k); } catch (e) { return null; } },
    set: function (k, v) { try { window.localStorage.setItem(k, v); } catch (e) { /* ignore */ } }
  };
  var SIZES = 4;

  function size() {
    var value = parseInt(store.get("govsite-size") || "0", 10);
    return value >= 0 && value < SIZES ? value : 0;
  }

  function setSize(value) {
    for (var i = 1; i < SIZES; i++) root.classList.remove("size-" + i);
    if (value > 0) root.classList.add("size-" + value);
    store.set("govsite-size", String(value));
    sync();
  }

  function toggle(key, cls, force) {
    var on = typeof force === "boolean" ? force : !root.classList.contains(cls);
    root.classList.toggle(cls, on);
    store.set(key, on ? "on" : "off");
    sync();
    return on;
  }

  function sync() {
    var care = root.classList.contains("care");
    each("[data-care-toggle]", function (b) { b.setAttribute("aria-pressed", String(care)); });
    each("[data-contrast]", function (b) { b.setAttribute("aria-pressed", String(root.classList.contains("contrast"))); });
    each("[data-cursor]", function (b) { b.setAttribute("aria-pressed", String(root.classList.contains("big-cursor"))); });
    each("[data-size-down]", function (b) { b.disabled = size() === 0; });
    each("[data-size-up]", function (b) { b.disabled = size() === SIZES - 1; });
  }

  function each(selector, fn) {
    Array.prototype.forEach.call(document.querySelectorAll(selector), fn);
  }

  function on(selector, fn) {
    each(selector, function (el) { el.hidden = false; el.addEventListener("click", fn); });
  }

  on("[data-care-toggle]", function () {
    var enabled = toggle("govsite-care", "care");
    if (!enabled) { toggle("govsite-contrast", "contrast", false); toggle("govsite-cursor", "big-cursor", false); setSize(0); }
  });
  on("[data-care-off]", function () {
    toggle("govsite-care", "care", false); toggle("govsite-contrast", "contrast", false);
    toggle("govsite-cursor", "big-cursor", false); setSize(0);
    var switcher = document.querySelector("[data-care-toggle]");
    if (switcher) switcher.focus();
  });
  on("[data-size-up]", function () { setSize(Math.min(size() + 1, SIZES - 1)); });
  on("[data-size-down]", function () { setSize(Math.max(size() - 1, 0)); });
  on("[data-contrast]", function () { toggle("govsite-contrast", "contrast"); });
  on("[data-cursor]", function () { toggle("govsite-cursor", "big-cursor"); });

  // Read aloud with the browser's own speech synthesis: no third-party service.
  var speech = window.speechSynthesis;
  var body = document.querySelector("[data-read-aloud-source]");
  if (speech && body && typeof window.SpeechSynthesisUtterance === "function") {
    on("[data-read-aloud]", function (event) {
      var button = event.currentTarget;
      if (speech.speaking) { speech.cancel(); button.setAttribute("aria-pressed", "false"); return; }
      var title = document.querySelector("h1");
      var utterance = new window.SpeechSynthesisUtterance((title ? title.textContent + "。" : "") + body.textContent);
      utterance.lang = root.lang || "zh-CN";
      utterance.onend = function () { button.setAttribute("aria-pressed", "false"); };
      button.setAttribute("aria-pressed", "true");
      speech.speak(utterance);
    });
  }
  sync();
})();
