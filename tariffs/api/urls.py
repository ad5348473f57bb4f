from django.urls import path

from tariffs.api import views

urlpatterns = [
    path("plants/<int:plant_id>/costs/", views.CostsView.as_view(), name="api-plant-costs"),
    path("plants/<int:plant_id>/tariffs/contract", views.ContractView.as_view(), name="api-plant-tariff-contract"),
    path("plants/<int:plant_id>/tariffs/<str:direction>/", views.TariffView.as_view(), name="api-plant-tariff"),
    path(
        "plants/<int:plant_id>/tariffs/<str:direction>/prices",
        views.DynamicPricesView.as_view(),
        name="api-plant-tariff-prices",
    ),
    path(
        "plants/<int:plant_id>/tariffs/<str:direction>/source",
        views.PriceSourceView.as_view(),
        name="api-plant-tariff-source",
    ),
]
