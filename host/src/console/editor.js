// The script editor's highlighting: the textarea stays the real control
// (typing, selection, undo, the form post) and turns transparent over a
// <pre> that shows the same text coloured, with line numbers and the
// error's line marked. Without this script the textarea works as it is.
(function () {
  "use strict";

  var KEYWORDS = new Set(("break case catch class const continue debugger default delete do else export extends " +
    "finally for function if import in instanceof let new of return super switch this throw try typeof var void " +
    "while with yield async await").split(" "));
  var LITERALS = new Set(["true", "false", "null", "undefined", "NaN", "Infinity"]);

  // One pass over the text: comments, strings, template literals, numbers,
  // words and everything else, each a [class, text] pair.
  var TOKEN = /(\/\/[^\n]*|\/\*[\s\S]*?(?:\*\/|$))|('(?:[^'\\\n]|\\[\s\S])*'?|"(?:[^"\\\n]|\\[\s\S])*"?|`(?:[^`\\]|\\[\s\S])*`?)|(\b(?:0[xX][0-9a-fA-F_]+|\d[\d_]*(?:\.\d*)?(?:[eE][+-]?\d+)?n?)\b)|([A-Za-z_$][\w$]*)|(\s+|[^\sA-Za-z_$'"`\/\d]+|\/)/g;

  function tokens(text) {
    var out = [];
    var m;
    TOKEN.lastIndex = 0;
    while ((m = TOKEN.exec(text)) !== null) {
      if (m[0] === "") { TOKEN.lastIndex++; continue; }
      var cls = "";
      if (m[1]) cls = "tok-com";
      else if (m[2]) cls = "tok-str";
      else if (m[3]) cls = "tok-num";
      else if (m[4]) {
        if (KEYWORDS.has(m[4])) cls = "tok-kw";
        else if (LITERALS.has(m[4])) cls = "tok-lit";
        else if (/^\s*\(/.test(text.slice(TOKEN.lastIndex))) cls = "tok-fn";
      }
      out.push([cls, m[0]]);
    }
    return out;
  }

  function escape(s) {
    return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }

  // HTML for each line, a token spanning lines split at each newline.
  function lines(text) {
    var result = [""];
    tokens(text).forEach(function (t) {
      t[1].split("\n").forEach(function (part, i) {
        if (i > 0) result.push("");
        if (part === "") return;
        result[result.length - 1] += t[0] ? '<span class="' + t[0] + '">' + escape(part) + "</span>" : escape(part);
      });
    });
    return result;
  }

  function attach(box) {
    var area = box.querySelector("textarea");
    var gutter = document.createElement("pre");
    var view = document.createElement("pre");
    gutter.className = "code-gutter";
    view.className = "code-view";
    gutter.setAttribute("aria-hidden", "true");
    view.setAttribute("aria-hidden", "true");
    box.insertBefore(gutter, area);
    box.insertBefore(view, area);
    box.classList.add("live");
    var errorLine = parseInt(box.getAttribute("data-error-line"), 10) || 0;

    function render() {
      var html = lines(area.value);
      view.innerHTML = html.map(function (h, i) {
        var cls = i + 1 === errorLine ? "line error-line" : "line";
        return '<span class="' + cls + '">' + h + "\n</span>";
      }).join("");
      gutter.innerHTML = html.map(function (_, i) {
        return '<span class="' + (i + 1 === errorLine ? "num error-line" : "num") + '">' + (i + 1) + "\n</span>";
      }).join("");
      sync();
    }
    function sync() {
      view.scrollTop = area.scrollTop;
      view.scrollLeft = area.scrollLeft;
      gutter.scrollTop = area.scrollTop;
    }
    area.addEventListener("input", function () { errorLine = 0; render(); });
    area.addEventListener("scroll", sync);
    // Tab indents (two spaces) rather than leaving the field; Escape then
    // Tab still moves on, so the keyboard is never trapped.
    var escaped = false;
    area.addEventListener("keydown", function (e) {
      if (e.key === "Escape") { escaped = true; return; }
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        var run = document.getElementById("run");
        if (run) run.click();
        return;
      }
      if (e.key === "Tab" && !e.shiftKey && !escaped) {
        e.preventDefault();
        var s = area.selectionStart;
        area.setRangeText("  ", s, area.selectionEnd, "end");
        render();
      }
      escaped = false;
    });
    render();
    // After a run or a refused save, bring the source and its outcome
    // (just below it) into view, scrolled to the marked line.
    if (document.getElementById("run-result") || document.getElementById("form-error")) {
      box.scrollIntoView({ block: "start" });
      if (errorLine > 0) {
        var lineHeight = parseFloat(getComputedStyle(area).lineHeight) || 21;
        area.scrollTop = Math.max(0, (errorLine - 3) * lineHeight);
        sync();
      }
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".code-editor").forEach(attach);
  });
})();
