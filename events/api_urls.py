from django.urls import path

from events import api

urlpatterns = [
    path("events", api.EventListView.as_view(), name="api-events"),
    path("events/mail", api.MailSettingsView.as_view(), name="api-events-mail"),
    path("events/mail/test", api.MailTestView.as_view(), name="api-events-mail-test"),
]
