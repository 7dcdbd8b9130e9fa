"""Peewee models: data only. Every rule about them lives in regtui.core.services."""

from __future__ import annotations

import datetime as dt

from peewee import (
    SQL,
    BooleanField,
    Check,
    CharField,
    DatabaseProxy,
    DateField,
    DateTimeField,
    ForeignKeyField,
    IntegerField,
    Model,
    TextField,
)

from regtui.core import clock

database = DatabaseProxy()


def utcnow() -> dt.datetime:
    """Now, from the one injectable clock (regtui.core.clock)."""
    return clock.now()


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


class SchemaVersion(BaseModel):
    version = IntegerField()
    applied_at = DateTimeField(default=utcnow)


class Product(BaseModel):
    code = CharField(unique=True)
    name = CharField()


class Session(BaseModel):
    """One scheduled run/price of a product ("product session")."""

    product = ForeignKeyField(Product, backref="sessions", on_delete="CASCADE")
    code = CharField(unique=True)
    name = CharField()
    starts = DateField(null=True)
    price_cents = IntegerField(default=0)
    generate_codes = BooleanField(default=True)
    access_days = IntegerField(null=True)
    course_url = CharField(null=True)  # where a learner with access opens the course (shown on /me)


class Learner(BaseModel):
    """A learning-portal user. ``email_key`` is the case-insensitive identity.

    A learner who was given no password has one live set-password link at a time: only its
    ``password_link_nonce`` is stored (the link is an HMAC of it, see services.tokens); every
    email that needs the link carries that same one until it is used or expires. An
    ``unverified`` account (made on a claim page) gets that link too, with every email."""

    email = CharField()
    email_key = CharField(unique=True)
    first_name = CharField(default="", index=True)  # lists sort by name (see registrations._seat_query)
    last_name = CharField(default="", index=True)
    password_hash = CharField(null=True)
    must_set_password = BooleanField(default=True)
    created_at = DateTimeField(default=utcnow)
    password_link_nonce = CharField(null=True)
    password_link_expires_at = DateTimeField(null=True)
    password_link_used_at = DateTimeField(null=True)
    # made through a claim link, whose holder may not own the address (an operator can copy the
    # link): true until a set-password link, which is only ever emailed, is used (schema 3)
    unverified = BooleanField(default=False, constraints=[SQL("DEFAULT FALSE")])  # bulk inserts may leave it out


class Customer(BaseModel):
    """The buyer account on the eCommerce side."""

    name = CharField()
    email = CharField()
    email_key = CharField(unique=True)
    learner = ForeignKeyField(Learner, null=True, unique=True, backref="customer", on_delete="SET NULL")
    created_at = DateTimeField(default=utcnow)


class Operator(BaseModel):
    """Who runs regtui: an OS login name with a role; managers are tied to one customer."""

    name = CharField(unique=True)
    role = CharField(constraints=[Check("role IN ('admin', 'limited', 'manager')")])
    customer = ForeignKeyField(Customer, null=True, on_delete="CASCADE")
    created_at = DateTimeField(default=utcnow)


class OperatorKey(BaseModel):
    """An operator's SSH public key; OpenSSH asks regtui which operator a key is (by fingerprint)."""

    operator = ForeignKeyField(Operator, backref="keys", on_delete="CASCADE")
    fingerprint = CharField(unique=True)  # "SHA256:..." as OpenSSH prints it (%f)
    key_type = CharField()
    key_base64 = TextField()
    comment = CharField(default="")
    created_at = DateTimeField(default=utcnow)


class StaffCredential(BaseModel):
    """An operator's roster-page sign-in: an Argon2id password hash and an optional TOTP secret."""

    operator = ForeignKeyField(Operator, unique=True, backref="credential", on_delete="CASCADE")
    password_hash = CharField(null=True)
    totp_secret = CharField(null=True)
    totp_last_step = IntegerField(null=True)  # a TOTP code is accepted once
    updated_at = DateTimeField(default=utcnow)


class Order(BaseModel):
    """``source`` is the shop an order came from (None: typed by an operator) and ``external_id``
    the shop's own order id; the pair is unique, so one shop order is one order however often
    (or however concurrently) it is delivered."""

    number = CharField(unique=True)
    customer = ForeignKeyField(Customer, backref="orders", on_delete="CASCADE")
    placed_at = DateTimeField(default=utcnow)
    source = CharField(null=True)
    external_id = CharField(null=True)

    class Meta:
        indexes = ((("source", "external_id"), True),)


class Pool(BaseModel):
    """The seats of one order line. The counters are kept by conditional UPDATEs and
    guarded by CHECKs, so the database itself refuses an oversubscribed pool."""

    order = ForeignKeyField(Order, backref="pools", on_delete="CASCADE")
    session = ForeignKeyField(Session, on_delete="RESTRICT")
    seats = IntegerField()
    available = IntegerField()
    invited = IntegerField(default=0)
    claimed = IntegerField(default=0)
    # a shop refunded or cancelled more seats than were unclaimed: an admin decides
    over_refunded = BooleanField(default=False)

    class Meta:
        constraints = [
            Check("available >= 0"),
            Check("invited >= 0"),
            Check("claimed >= 0"),
            Check("available + invited + claimed = seats"),
        ]


class Code(BaseModel):
    """One seat of a pool: available, invited or claimed (then ``learner`` holds it)."""

    # no index of its own: the (pool, learner) and (pool, state) indexes below start with it
    pool = ForeignKeyField(Pool, backref="codes", on_delete="CASCADE", index=False)
    code = CharField(unique=True)
    state = CharField(
        default="available",
        constraints=[Check("state IN ('available', 'invited', 'claimed')")],
    )
    learner = ForeignKeyField(Learner, null=True, on_delete="RESTRICT")
    # the customer handed it out: a learner may redeem it on /redeem (services.codes)
    redeemable = BooleanField(default=False)
    redeem_misses = IntegerField(default=0)

    class Meta:
        indexes = ((("pool", "learner"), True), (("pool", "state"), False))


class Access(BaseModel):
    """A learner's content access to a session, and the code it came from."""

    learner = ForeignKeyField(Learner, backref="accesses", on_delete="CASCADE")
    # not indexed: nothing looks accesses up by session, and a session with accesses is never deleted
    session = ForeignKeyField(Session, on_delete="RESTRICT", index=False)
    code = ForeignKeyField(Code, null=True, on_delete="SET NULL")
    starts = DateField()
    ends = DateField(null=True)
    status = CharField(default="active", constraints=[Check("status IN ('active', 'revoked')")])
    revoked_at = DateTimeField(null=True)
    # what the scheduler last told the world this access is (scheduled, active or ended): the
    # status shown is derived from the dates (services.access.status_of); when the two differ, a
    # date has passed and the scheduler records access.started or access.ended (schema 5)
    announced = CharField(null=True)


Access.add_index(Access.index(Access.code, unique=True, where=SQL("status = 'active'"), name="access_one_active_per_code"))


class OrderLine(BaseModel):
    """One line of an order, (session, seats), as it was sold, and what it became: its pool (2+
    seats of a session with codes), the direct access a shop's single seat gave its buyer, or
    neither (a single seat or a session without codes recorded by an operator)."""

    order = ForeignKeyField(Order, backref="lines", on_delete="CASCADE")
    session = ForeignKeyField(Session, on_delete="RESTRICT")
    seats = IntegerField()
    pool = ForeignKeyField(Pool, null=True, on_delete="SET NULL", index=False)
    access = ForeignKeyField(Access, null=True, on_delete="SET NULL", index=False)


class Invitation(BaseModel):
    """An emailed single-use claim link for one code. Only ``nonce`` is stored: the link's
    token is an HMAC of it under a key kept outside the database."""

    code = ForeignKeyField(Code, backref="invitations", on_delete="CASCADE")
    email = CharField()
    email_key = CharField(index=True)
    message = TextField(default="")
    nonce = CharField()
    status = CharField(
        default="pending",
        constraints=[
            Check("status IN ('pending', 'accepted', 'invalidated', 'cancelled', 'expired')")
        ],
    )
    created_at = DateTimeField(default=utcnow)
    expires_at = DateTimeField()
    ended_at = DateTimeField(null=True)
    learner = ForeignKeyField(Learner, null=True, on_delete="SET NULL")


class EmailTemplate(BaseModel):
    name = CharField(unique=True)
    subject = CharField()
    body = TextField()
    updated_at = DateTimeField(default=utcnow)


class Batch(BaseModel):
    """One applied roster plan."""

    file_name = CharField()
    sha256 = CharField()
    operator = CharField()
    pool = ForeignKeyField(Pool, null=True, on_delete="SET NULL")
    applied_at = DateTimeField(default=utcnow)
    counts = TextField(default="{}")
    plan = TextField(default="{}")
    outcome = CharField(default="applied")


class AuditEvent(BaseModel):
    at = DateTimeField(default=utcnow)  # events are listed by id, which follows time
    operator = CharField(index=True)
    action = CharField()
    record_type = CharField()
    record_id = IntegerField(null=True)
    before = TextField(null=True)
    after = TextField(null=True)
    batch = ForeignKeyField(Batch, null=True, backref="events", on_delete="SET NULL")


class OutboxEmail(BaseModel):
    """An email written in the transaction of the change that caused it."""

    created_at = DateTimeField(default=utcnow)
    to = CharField()
    subject = CharField()
    body = TextField()
    message_id = CharField(unique=True)
    status = CharField(
        default="queued",
        index=True,
        constraints=[Check("status IN ('queued', 'sending', 'sent', 'failed')")],
    )
    attempts = IntegerField(default=0)
    last_error = TextField(null=True)
    claimed_at = DateTimeField(null=True)
    sent_at = DateTimeField(null=True)
    # schema 4: a 4xx answer is tried again from this time on (exponential backoff)
    next_attempt_at = DateTimeField(null=True)
    # schema 4: the body holds outbox.LINK where its link goes; the link itself (an HMAC of the
    # record's nonce) is made at send time from (purpose, id), so the database holds no live link
    link_purpose = CharField(null=True)
    link_id = IntegerField(null=True)
    # schema 4: the record the email is about ("invitation:12", "access:34"), so that cancelling
    # or revoking it withdraws the email if it is still unsent
    about = CharField(null=True, index=True)


class Shop(BaseModel):
    """A connected eCommerce store. Its webhook secret and API token stay in files (only their
    paths are stored), read when a delivery is verified or the API is called."""

    name = CharField(unique=True)
    kind = CharField(constraints=[Check("kind IN ('shopify', 'woocommerce', 'spree')")])
    secret_file = CharField()
    api_url = CharField(null=True)
    token_file = CharField(null=True)
    created_at = DateTimeField(default=utcnow)


class ShopProduct(BaseModel):
    """Which shop SKU is a seat of which session."""

    shop = ForeignKeyField(Shop, backref="products", on_delete="CASCADE")
    sku = CharField()
    session = ForeignKeyField(Session, on_delete="CASCADE")

    class Meta:
        indexes = ((("shop", "sku"), True),)


class ShopDelivery(BaseModel):
    """The inbox: one verified webhook as received (raw body kept for replay), stored before
    anything is done with it. ``status``: processed, held (a refund before its order), unmatched
    (an unknown SKU), ignored (a topic regtui does not act on) or failed (kept for replay)."""

    shop = ForeignKeyField(Shop, backref="deliveries", on_delete="CASCADE")
    delivery_id = CharField()
    topic = CharField()
    external_order_id = CharField(null=True)
    body = TextField()
    received_at = DateTimeField(default=utcnow)
    status = CharField(default="received", constraints=[
        Check("status IN ('received', 'processed', 'held', 'unmatched', 'ignored', 'failed')")])
    note = TextField(null=True)
    processed_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("shop", "delivery_id"), True), (("shop", "external_order_id"), False))


class ShopOrderLine(BaseModel):
    """One shop order line as regtui made it: its pool, or the direct access it gave, and how
    many of its seats were taken back. Unique per shop line, so a line arriving twice (or
    through two topics) is made once."""

    shop = ForeignKeyField(Shop, on_delete="CASCADE")
    external_order_id = CharField()
    external_line_id = CharField()
    order = ForeignKeyField(Order, on_delete="CASCADE")
    sku = CharField()
    seats = IntegerField()
    pool = ForeignKeyField(Pool, null=True, on_delete="SET NULL")
    access = ForeignKeyField(Access, null=True, on_delete="SET NULL")
    taken_back = IntegerField(default=0)
    over_refunded = IntegerField(default=0)

    class Meta:
        indexes = ((("shop", "external_order_id", "external_line_id"), True),)


class ShopUnmatched(BaseModel):
    """An order line whose SKU no session is mapped to: shown to admins to map and replay."""

    shop = ForeignKeyField(Shop, on_delete="CASCADE")
    delivery = ForeignKeyField(ShopDelivery, null=True, on_delete="CASCADE")
    external_order_id = CharField()
    external_line_id = CharField()
    sku = CharField()
    quantity = IntegerField()
    seen_at = DateTimeField(default=utcnow)
    resolved_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("shop", "external_order_id", "external_line_id"), True),)


class ShopCustomer(BaseModel):
    """A customer's id in a shop (the shop's customer id), both ways unique."""

    shop = ForeignKeyField(Shop, on_delete="CASCADE")
    customer = ForeignKeyField(Customer, on_delete="CASCADE")
    remote_id = CharField()

    class Meta:
        indexes = ((("shop", "remote_id"), True), (("shop", "customer"), True))


class ShopCall(BaseModel):
    """The shop outbox: an API call written in the transaction of the change that needs it
    (sync to eCommerce), delivered later with retries and backoff."""

    shop = ForeignKeyField(Shop, on_delete="CASCADE")
    customer = ForeignKeyField(Customer, on_delete="CASCADE")
    action = CharField(default="customer.create")
    status = CharField(default="queued", index=True, constraints=[
        Check("status IN ('queued', 'sending', 'done', 'failed')")])
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(default=utcnow)
    claimed_at = DateTimeField(null=True)
    last_error = TextField(null=True)
    remote_id = CharField(null=True)
    created_at = DateTimeField(default=utcnow)
    done_at = DateTimeField(null=True)


SHOP_MODELS = [Shop, ShopProduct, ShopDelivery, ShopOrderLine, ShopUnmatched, ShopCustomer, ShopCall]

class Event(BaseModel):
    """One change told to the outside world (``access.started``, ``access.ended``, ...), written in
    the transaction of the change (services.events); webhook endpoints are fed from here."""

    kind = CharField()
    access = ForeignKeyField(Access, null=True, on_delete="CASCADE", index=False)
    at = DateTimeField(default=utcnow)
    data = TextField(default="{}")


class Lease(BaseModel):
    """Who may run a periodic job now (the scheduler): taken by a conditional UPDATE, until ``expires_at``."""

    name = CharField(primary_key=True)
    holder = CharField(default="")
    expires_at = DateTimeField()


class Reminder(BaseModel):
    """A reminder the scheduler sent, so that it is sent once: ``key`` names what it was about
    (e.g. ``access-ends:ACCESS:DAYS:END-DATE``, ``unclaimed:INVITATION``)."""

    key = CharField(unique=True)
    sent_at = DateTimeField(default=utcnow)




class Endpoint(BaseModel):
    """A learning platform's URL told about every access and learner change (services.endpoints).
    Its signing secret is not stored: it is an HMAC of ``nonce`` under the installation's key."""

    url = CharField()
    events = CharField(default="access.*,learner.*")
    nonce = CharField()
    created_at = DateTimeField(default=utcnow)
    last_event_id = IntegerField(default=0)  # events up to this one have their deliveries
    failing_since = DateTimeField(null=True)
    disabled_reason = CharField(null=True)
    allow_private = BooleanField(default=False)  # an admin allowed a private address (checked at each send)


class HookDelivery(BaseModel):
    """One event to send to one endpoint: pending until a 2xx answer, retried with backoff."""

    endpoint = ForeignKeyField(Endpoint, backref="deliveries", on_delete="CASCADE", index=False)
    event = ForeignKeyField(Event, on_delete="CASCADE", index=False)
    status = CharField(default="pending", constraints=[
        Check("status IN ('pending', 'sending', 'delivered', 'failed')")])
    attempts = IntegerField(default=0)
    next_attempt_at = DateTimeField(null=True)
    claimed_at = DateTimeField(null=True)
    body = TextField(null=True)  # fixed at the first attempt, so every retry sends the same bytes
    last_status = IntegerField(null=True)
    last_error = TextField(null=True)
    delivered_at = DateTimeField(null=True)

    class Meta:
        indexes = ((("endpoint", "status", "next_attempt_at"), False), (("endpoint", "event"), True))


class ApiToken(BaseModel):
    """A bearer token of the read-only pull API; only its SHA-256 is stored."""

    name = CharField(unique=True)
    token_hash = CharField(unique=True)
    created_at = DateTimeField(default=utcnow)
    last_used_at = DateTimeField(null=True)


ALL_MODELS = [
    SchemaVersion,
    Product,
    Session,
    Learner,
    Customer,
    Operator,
    OperatorKey,
    StaffCredential,
    Order,
    Pool,
    Code,
    Access,
    OrderLine,
    Invitation,
    EmailTemplate,
    Batch,
    AuditEvent,
    OutboxEmail,
    *SHOP_MODELS,
    Event,
    Lease,
    Reminder,
    Endpoint,
    HookDelivery,
    ApiToken,
]
