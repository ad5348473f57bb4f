from django.urls import path

import access.rest  # noqa: F401  (registers the <id:…> path converter)
from access.api import people, views

urlpatterns = [
    path("tokens/", views.TokenListView.as_view(), name="api-tokens"),
    path("tokens/<id:token_id>", views.TokenDetailView.as_view(), name="api-token"),
    path("tokens/<id:token_id>/authorise", views.TokenAuthoriseView.as_view(), name="api-token-authorise"),
    path("tokens/<id:token_id>/revoke", views.TokenRevokeView.as_view(), name="api-token-revoke"),
    path("people/", people.PeopleView.as_view(), name="api-people"),
    path("people/<id:person_id>", people.PersonView.as_view(), name="api-person"),
]
