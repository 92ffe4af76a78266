// Start Swagger UI (vendored swagger-ui-dist) on this service's OpenAPI document. A classic
// script, not a module: the bundle defines the global SwaggerUIBundle.
/* global SwaggerUIBundle */
(function startSwaggerUi() {
  "use strict";
  var container = document.getElementById("swagger-ui");
  if (typeof SwaggerUIBundle !== "function") {
    container.textContent = "Swagger UI could not be loaded.";
    return;
  }
  SwaggerUIBundle({
    url: container.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    layout: "BaseLayout",
    presets: [SwaggerUIBundle.presets.apis],
    validatorUrl: null, // the default validator badge would call an outside service
    tryItOutEnabled: false,
    persistAuthorization: false,
  });
})();
