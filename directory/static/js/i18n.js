/* Strings in the page's language for the site's scripts: the JSON in
   <script type="application/json" id="i18n-strings"> (templates/base.html).
   DirectoryI18n.t(key, english, {name: value}) gives the page's text for key (English when
   the page has none), with {name} replaced by its value. */
(function () {
  'use strict';
  var strings = null;
  function load() {
    if (strings === null) {
      try {
        strings = JSON.parse(document.getElementById('i18n-strings').textContent) || {};
      } catch (e) { strings = {}; }
    }
    return strings;
  }
  window.DirectoryI18n = {
    t: function (key, fallback, values) {
      var text = load()[key] || fallback;
      Object.keys(values || {}).forEach(function (k) {
        text = text.split('{' + k + '}').join(values[k]);
      });
      return text;
    }
  };
}());
