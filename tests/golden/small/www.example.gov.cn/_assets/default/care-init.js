/* Runs before the page paints, so care mode never flashes off: applies the reader's saved
   settings as classes on <html>. Kept tiny; govsite.js does the rest. */
(function () {
  try {
    var s = window.localStorage, c = document.documentElement.classList;
    c.add("js");
    if (s.getItem("govsite-care") === "on") c.add("care");
    var size = s.getItem("govsite-size");
    if (size === "1" || size === "2" || size === "3") c.add("size-" + size);
    if (s.getItem("govsite-contrast") === "on") c.add("contrast");
    if (s.getItem("govsite-cursor") === "on") c.add("big-cursor");
  } catch (e) { /* storage blocked: the page still reads well in its default mode */ }
})();
