from django.urls import path

from tariffs import views

app_name = "tariffs"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("settings/", views.settings, name="settings"),
    path("settings/contract/", views.save_contract, name="contract"),
    path("settings/<str:direction>/edit/", views.edit, name="edit"),
    path("settings/<str:direction>/prices/", views.import_prices, name="import-prices"),
    path("settings/<str:direction>/source/", views.price_source, name="price-source"),
]
