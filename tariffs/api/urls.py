from django.urls import path

import access.rest  # noqa: F401  (registers the <id:…> path converter)
from tariffs.api import views

urlpatterns = [
    path("plants/<id:plant_id>/costs/", views.CostsView.as_view(), name="api-plant-costs"),
    path("plants/<id:plant_id>/tariffs/contract", views.ContractView.as_view(), name="api-plant-tariff-contract"),
    path("plants/<id:plant_id>/tariffs/<str:direction>/", views.TariffView.as_view(), name="api-plant-tariff"),
    path(
        "plants/<id:plant_id>/tariffs/<str:direction>/prices",
        views.DynamicPricesView.as_view(),
        name="api-plant-tariff-prices",
    ),
    path(
        "plants/<id:plant_id>/tariffs/<str:direction>/source",
        views.PriceSourceView.as_view(),
        name="api-plant-tariff-source",
    ),
]
