import uuid

import factory
from factory.django import DjangoModelFactory

from accounts.models import Membership, Organisation, Role, User
from connections.models import Connection
from rutterdash.environments import Environment

PASSWORD = "correct-horse-battery-staple"


class UserFactory(DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    name = factory.Faker("name")
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def saved(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class OrganisationFactory(DjangoModelFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Lender {n}")


class MembershipFactory(DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organisation = factory.SubFactory(OrganisationFactory)
    role = Role.DEVELOPER


class ConnectionFactory(DjangoModelFactory):
    """A ready connection with no books; sync fills books where a test needs them."""

    class Meta:
        model = Connection
        skip_postgeneration_save = True

    organisation = factory.SubFactory(OrganisationFactory)
    environment = Environment.SANDBOX
    platform = "QUICKBOOKS"
    store_name = factory.Sequence(lambda n: f"Store {n}")
    store_domain = factory.LazyAttribute(
        lambda c: f"{c.store_name.lower().replace(' ', '')}.example.com"
    )
    is_ready = True
    sync_status = "succeeded"

    @factory.post_generation
    def access_token(obj, create, extracted, **kwargs):
        obj.set_access_token(extracted or f"access-{obj.environment}-{uuid.uuid4()}")
        if create:
            obj.save()
