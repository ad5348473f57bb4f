from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

from access import rest, schema_views
from ksem_site import https_api, https_views, licences_api, licences_views

# The JSON API (docs/api.md): /api/v1/… is canonical; the same operations answer unversioned
# under /api/… as aliases. Everything under /api/ answers errors as JSON (handlers below).
api_patterns: list[URLPattern | URLResolver] = [
    path("", include("plant.api.urls")),
    path("", include("inverters.api.urls")),
    path("", include("meter.api.urls")),
    path("", include("modbus.api.urls")),
    path("", include("tariffs.api.urls")),
    path("", include("wallbox.api.urls")),
    path("", include("smartgrid.api.urls")),
    path("", include("smartgrid.eebus.api_urls")),
    path("", include("access.api.urls")),
    path("", include("integrations.api_urls")),
    path("", include("solarportal.api_urls")),
    path("", include("events.api_urls")),
    path("", include("device.api_urls")),
    path("", include("forecast.api.urls")),
    path("", include("updates.api_urls")),
    path("device/licences", licences_api.LicencesView.as_view(), name="api-device-licences"),
    path("https/certificate", https_api.HttpsCertificateView.as_view(), name="api-https-certificate"),
    path("https/certificate/regenerate", https_api.HttpsRegenerateView.as_view(), name="api-https-regenerate"),
]

handler400 = rest.bad_request
handler403 = rest.permission_denied
handler404 = rest.not_found
handler500 = rest.server_error

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", schema_views.SchemaView.as_view(), name="api-schema"),
    path("api/schema", schema_views.SchemaView.as_view()),
    path("api/docs/", schema_views.DocsView.as_view(), name="api-docs"),
    path("api/v1/", include((api_patterns, "v1"))),
    path("api/", include(api_patterns)),
    path("profile/tokens/", include("access.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("settings/https/", https_views.https_certificate, name="https-certificate"),
    path("licences/", licences_views.licences, name="licences"),
    path("device/licences/", licences_views.licences, name="device-licences"),
    path("device/update/", include("updates.urls")),
    path("", include("portal.urls")),
    path("", include("plant.urls")),
    path("meter/", include("meter.urls")),
    path("inverters/", include("inverters.urls")),
    path("modbus/", include("modbus.urls")),
    path("mqtt/", include("integrations.urls")),
    path("events/", include("events.urls")),
    path("tariffs/", include("tariffs.urls")),
    path("wallbox/", include("wallbox.urls")),
    path("smartgrid/connections/", include("smartgrid.eebus.urls")),
    path("smartgrid/", include("smartgrid.urls")),
    path("solarportal/", include("solarportal.urls")),
    path("device/", include("device.urls")),
    path("forecast/", include("forecast.urls")),
]
