from django.urls import path

from events import views

app_name = "events"

urlpatterns = [
    path("", views.event_list, name="list"),
    path("mail/", views.mail_settings, name="mail"),
    path("mail/save/", views.mail_save, name="mail-save"),
    path("mail/test/", views.mail_test, name="mail-test"),
]
