"""Background work for webhooks."""

from django_tasks import task


@task(queue_name="webhooks")
def deliver_due():
    from webhooks.delivery import deliver_all_due

    deliver_all_due()
