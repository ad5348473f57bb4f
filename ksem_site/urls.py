from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/", include("plant.api.urls")),
    path("api/", include("inverters.api.urls")),
    path("api/", include("modbus.api.urls")),
    path("api/", include("tariffs.api.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("portal.urls")),
    path("", include("plant.urls")),
    path("meter/", include("meter.urls")),
    path("inverters/", include("inverters.urls")),
    path("modbus/", include("modbus.urls")),
    path("tariffs/", include("tariffs.urls")),
]
