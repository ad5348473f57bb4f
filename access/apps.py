from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access tokens"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save

        from access import services
        from access.models import AccessToken

        def changed(**_kwargs: object) -> None:
            services.tokens_changed()

        def user_changed(**_kwargs: object) -> None:
            # With no token at all nothing can be cached (and the first start needs no Redis).
            if AccessToken.objects.exists():
                services.tokens_changed()

        # Whatever a cached token row depends on: the token itself and the user it acts for.
        for model, handler in ((AccessToken, changed), (get_user_model(), user_changed)):
            post_save.connect(handler, sender=model, weak=False, dispatch_uid=f"access-tokens-{model._meta.label}")
            post_delete.connect(
                handler, sender=model, weak=False, dispatch_uid=f"access-tokens-del-{model._meta.label}"
            )
