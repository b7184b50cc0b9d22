/* The results / center map (Leaflet + markercluster, served from /static/vendor). Reads
   markers from <script type="application/json" id="map-points"> and settings from data-
   attributes on <details data-map>. The list on the page holds everything the map shows. */
(function () {
  'use strict';
  // Strings in the page's language (js/i18n.js); English if that script is missing.
  var t = (window.DirectoryI18n || {}).t || function (key, fallback) { return fallback; };

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text) { node.textContent = text; }
    return node;
  }

  function popup(p) {
    var box = el('div', 'map-popup');
    var title = el('p', 'map-popup-title');
    var link = el('a', null, p.name);
    link.href = p.url;
    title.appendChild(link);
    box.appendChild(title);
    if (p.place) { box.appendChild(el('p', null, p.place)); }
    if (p.distance) { box.appendChild(el('p', null, (p.approx ? '≈ ' : '') + p.distance)); }
    if (p.approx) {
      box.appendChild(el('p', 'map-approx', p.approx === 'postal_code'
        ? t('approxZip', 'Approximate position: centre of the ZIP code.')
        : t('approxCity', 'Approximate position: centre of the city.')));
    }
    return box;
  }

  function build(details, canvas, points) {
    var L = window.L;
    // min/maxZoom on the map itself: without a tile layer (MAP_TILE_URL empty) nothing else
    // sets them, and the cluster layer refuses a map without maxZoom.
    var map = L.map(canvas, {scrollWheelZoom: false, minZoom: 1, maxZoom: 19,
                             zoomControl: false});
    L.control.zoom({zoomInTitle: t('zoomIn', 'Zoom in'),
                    zoomOutTitle: t('zoomOut', 'Zoom out')}).addTo(map);
    var tiles = details.getAttribute('data-tiles');
    if (tiles) {
      L.tileLayer(tiles, {maxZoom: 19, attribution: details.getAttribute('data-attribution')})
        .addTo(map);
    }
    var group = (L.markerClusterGroup && points.length > 1) ? L.markerClusterGroup({
      showCoverageOnHover: false,
      maxClusterRadius: 40,
      iconCreateFunction: function (cluster) {
        var n = cluster.getChildCount();
        var size = n < 10 ? 'small' : (n < 50 ? 'medium' : 'large');
        return L.divIcon({
          html: '<div><span>' + n + '<span class="visually-hidden"> ' + t('cluster', 'centers; zoom in') + '</span></span></div>',
          className: 'marker-cluster marker-cluster-' + size,
          iconSize: L.point(40, 40)
        });
      }
    }) : L.featureGroup();
    var latlngs = [];
    points.forEach(function (p) {
      var cls = 'pin' + (p.approx ? ' pin-approx' : '') + (p.current ? ' pin-current' : '');
      var marker = L.marker([p.lat, p.lon], {
        icon: L.divIcon({className: cls, html: '', iconSize: [22, 22], iconAnchor: [11, 11],
                         popupAnchor: [0, -10]}),
        title: p.name + (p.approx ? ' ' + t('approxTitle', '(approximate position)') : ''),
        keyboard: true,
        riseOnHover: true
      });
      marker.bindPopup(popup(p));
      group.addLayer(marker);
      latlngs.push([p.lat, p.lon]);
    });
    group.addTo(map);
    if (latlngs.length === 1) {
      map.setView(latlngs[0], points[0].approx ? 11 : 13);
    } else {
      map.fitBounds(L.latLngBounds(latlngs), {padding: [24, 24], maxZoom: 13});
    }
    return map;
  }

  function init() {
    var details = document.querySelector('[data-map]');
    if (!details || !window.L) { return; }
    var points;
    try {
      points = JSON.parse(document.getElementById(details.getAttribute('data-points')).textContent);
    } catch (e) { return; }
    if (!points || !points.length) { return; }
    var canvas = details.querySelector('.map-canvas');
    var map = null;
    details.hidden = false;
    function show() {
      if (!details.open) { return; }
      if (map) { map.invalidateSize(); return; }
      map = build(details, canvas, points);
    }
    details.addEventListener('toggle', show);
    // Open by default on wide screens; on a phone the list comes first, the map on demand.
    if (details.getAttribute('data-open') === 'true' &&
        window.matchMedia('(min-width: 48rem)').matches) {
      details.open = true;
    }
    show();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
}());
