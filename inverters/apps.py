from django.apps import AppConfig


class InvertersConfig(AppConfig):
    name = "inverters"

    def ready(self) -> None:
        import devicejobs
        from inverters import detection

        # Imported only in the worker, when such a job runs: the module that loads the drivers.
        devicejobs.register(detection.DETECT_KIND, "inverters.device_jobs:detect_job")
        devicejobs.register(detection.INFO_KIND, "inverters.device_jobs:info_job")
