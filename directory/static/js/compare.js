/* Compare shortlist: up to N centers (data-max on the compare form), kept in localStorage
   so it survives paging and new searches. Without this script the "Compare" checkboxes
   still submit the ticked centers of the current page to /compare. */
(function () {
  'use strict';
  // Strings in the page's language (js/i18n.js); English if that script is missing.
  var t = (window.DirectoryI18n || {}).t || function (key, fallback) { return fallback; };
  var KEY = 'compare-shortlist';

  function load() {
    try {
      var list = JSON.parse(window.localStorage.getItem(KEY) || '[]');
      return Array.isArray(list) ? list.filter(function (x) { return x && x.id; }) : [];
    } catch (e) { return []; }
  }

  function save(list) {
    try { window.localStorage.setItem(KEY, JSON.stringify(list)); } catch (e) { /* private mode */ }
  }

  function init() {
    var form = document.querySelector('[data-compare-bar]');
    if (!form) { return; }
    var max = parseInt(form.getAttribute('data-max'), 10) || 3;
    var status = form.querySelector('[data-compare-status]');
    var clear = form.querySelector('[data-compare-clear]');
    var boxes = document.querySelectorAll('input[data-compare]');
    var shortlist = load().slice(0, max);

    var jsOnly = document.querySelectorAll('[data-js-only]');
    for (var j = 0; j < jsOnly.length; j++) { jsOnly[j].hidden = false; }

    function has(id) { return shortlist.some(function (x) { return x.id === id; }); }

    function update() {
      var full = shortlist.length >= max;
      for (var i = 0; i < boxes.length; i++) {
        var box = boxes[i];
        box.checked = has(box.value);
        box.disabled = full && !box.checked;
        box.closest('.compare-pick').classList.toggle('is-disabled', box.disabled);
      }
      if (!shortlist.length) {
        status.textContent = t('compareEmpty',
          'Tick up to {max} centers to compare them side by side.', {max: max});
      } else {
        status.textContent = t('compareChosen', '{n} of {max} chosen:',
          {n: shortlist.length, max: max}) + ' ' +
          shortlist.map(function (x) { return x.name; }).join('; ') +
          (full ? '. ' + t('compareFull', 'Untick one to choose another.') : '.');
      }
      form.hidden = false;
      form.classList.toggle('has-picks', shortlist.length > 0);
      clear.hidden = !shortlist.length;
    }

    for (var i = 0; i < boxes.length; i++) {
      boxes[i].addEventListener('change', function (e) {
        var box = e.target;
        shortlist = shortlist.filter(function (x) { return x.id !== box.value; });
        if (box.checked && shortlist.length < max) {
          shortlist.push({id: box.value, name: box.getAttribute('data-name')});
        }
        save(shortlist);
        update();
      });
    }

    clear.addEventListener('click', function () {
      shortlist = [];
      save(shortlist);
      update();
    });

    form.addEventListener('submit', function (e) {
      if (!shortlist.length) { return; }
      e.preventDefault();
      var params = new URLSearchParams();
      params.set('ids', shortlist.map(function (x) { return x.id; }).join(','));
      var extra = form.querySelectorAll('input[type=hidden]');
      for (var k = 0; k < extra.length; k++) { params.set(extra[k].name, extra[k].value); }
      window.location.href = form.getAttribute('action') + '?' + params.toString();
    });

    window.addEventListener('pageshow', function () { shortlist = load().slice(0, max); update(); });
    update();
  }

  /* The printed shortlist: a Print button (hidden without this script, which leaves the
     hint to use the browser's own Print command). */
  function initPrint() {
    var buttons = document.querySelectorAll('[data-print]');
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].hidden = false;
      buttons[i].addEventListener('click', function () { window.print(); });
    }
    var hints = document.querySelectorAll('[data-print-hint]');
    for (var h = 0; h < hints.length && buttons.length; h++) {
      hints[h].textContent = t('printHint', 'or use your browser\u2019s Print command.');
    }
  }

  function start() { init(); initPrint(); }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
}());
