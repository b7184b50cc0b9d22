// Swagger UI for /api/docs, started from a file (the Content-Security-Policy allows no
// inline script). The spec's URL comes from the container's data-spec-url attribute.
window.addEventListener("load", function () {
  var el = document.getElementById("swagger-ui");
  if (!el || typeof SwaggerUIBundle === "undefined") {
    return;
  }
  window.ui = SwaggerUIBundle({url: el.dataset.specUrl, dom_id: "#swagger-ui",
    deepLinking: true, defaultModelsExpandDepth: 0, tryItOutEnabled: false,
    supportedSubmitMethods: ["get"], validatorUrl: null});
});
