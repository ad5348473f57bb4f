from django.urls import path

from access import views

app_name = "access"

urlpatterns = [
    path("", views.token_list, name="tokens"),
    path("<int:pk>/authorise", views.token_authorise, name="authorise"),
    path("<int:pk>/revoke", views.token_revoke, name="revoke"),
]
