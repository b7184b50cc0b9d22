/* Place autocomplete for <input data-autocomplete="places" data-source="/api/v1/places">.
   ARIA 1.2 combobox: arrow keys move, Enter picks, Escape closes; the input stays a plain
   text field, so the form submits whatever was typed when this script is missing. */
(function () {
  'use strict';
  // Strings in the page's language (js/i18n.js); English if that script is missing.
  var t = (window.DirectoryI18n || {}).t || function (key, fallback) { return fallback; };
  var MIN_CHARS = 2;
  var DELAY_MS = 150;

  function setup(input) {
    var source = input.getAttribute('data-source');
    if (!source || !window.fetch) { return; }
    var wrap = document.createElement('div');
    wrap.className = 'ac';
    input.parentNode.insertBefore(wrap, input);
    wrap.appendChild(input);
    var list = document.createElement('ul');
    list.id = input.id + '-suggestions';
    list.className = 'ac-list';
    list.setAttribute('role', 'listbox');
    list.setAttribute('aria-label', t('suggested', 'Suggested places'));
    list.hidden = true;
    wrap.appendChild(list);
    var status = document.createElement('div');
    status.className = 'visually-hidden';
    status.setAttribute('role', 'status');
    wrap.appendChild(status);
    input.setAttribute('role', 'combobox');
    input.setAttribute('aria-autocomplete', 'list');
    input.setAttribute('aria-expanded', 'false');
    input.setAttribute('aria-controls', list.id);

    var items = [];
    var active = -1;
    var timer = null;
    var seq = 0;

    function close() {
      list.hidden = true;
      input.setAttribute('aria-expanded', 'false');
      input.removeAttribute('aria-activedescendant');
      active = -1;
    }

    function highlight(i) {
      var options = list.children;
      for (var k = 0; k < options.length; k++) {
        options[k].setAttribute('aria-selected', k === i ? 'true' : 'false');
      }
      active = i;
      if (i >= 0) {
        input.setAttribute('aria-activedescendant', options[i].id);
        options[i].scrollIntoView({block: 'nearest'});
      } else {
        input.removeAttribute('aria-activedescendant');
      }
    }

    function choose(i) {
      if (i < 0 || i >= items.length) { return; }
      input.value = items[i].name;
      close();
      status.textContent = t('chosen', '{place} chosen', {place: items[i].name});
    }

    function render() {
      list.textContent = '';
      items.forEach(function (place, i) {
        var li = document.createElement('li');
        li.id = list.id + '-' + i;
        li.setAttribute('role', 'option');
        li.setAttribute('aria-selected', 'false');
        li.textContent = place.name;
        li.addEventListener('mousedown', function (e) { e.preventDefault(); });
        li.addEventListener('click', function () { choose(i); input.focus(); });
        list.appendChild(li);
      });
      active = -1;
      if (items.length) {
        list.hidden = false;
        input.setAttribute('aria-expanded', 'true');
        status.textContent = items.length === 1
          ? t('placeOne', '1 place found; use the arrow keys to choose')
          : t('placeMany', '{n} places found; use the arrow keys to choose', {n: items.length});
      } else {
        close();
        status.textContent = '';
      }
    }

    function lookup(q) {
      var mine = ++seq;
      fetch(source + '?limit=8&q=' + encodeURIComponent(q), {headers: {Accept: 'application/json'}})
        .then(function (r) { return r.ok ? r.json() : {items: []}; })
        .then(function (data) {
          if (mine !== seq || document.activeElement !== input) { return; }
          items = data.items || [];
          render();
        })
        .catch(function () { if (mine === seq) { close(); } });
    }

    input.addEventListener('input', function () {
      clearTimeout(timer);
      var q = input.value.trim();
      if (q.length < MIN_CHARS) { seq++; items = []; close(); return; }
      timer = setTimeout(function () { lookup(q); }, DELAY_MS);
    });

    input.addEventListener('keydown', function (e) {
      var open = !list.hidden;
      if (e.key === 'ArrowDown') {
        if (!items.length) { return; }
        e.preventDefault();
        if (!open) { render(); }
        highlight(active + 1 < items.length ? active + 1 : 0);
      } else if (e.key === 'ArrowUp') {
        if (!open) { return; }
        e.preventDefault();
        highlight(active > 0 ? active - 1 : items.length - 1);
      } else if (e.key === 'Enter') {
        if (open && active >= 0) { e.preventDefault(); choose(active); }
      } else if (e.key === 'Escape') {
        if (open) { e.preventDefault(); close(); }
      } else if (e.key === 'Tab') {
        close();
      }
    });

    input.addEventListener('blur', function () { close(); });
  }

  function init() {
    var inputs = document.querySelectorAll('input[data-autocomplete="places"]');
    for (var i = 0; i < inputs.length; i++) { setup(inputs[i]); }
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
}());
