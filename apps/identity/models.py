"""Users (email login) and API keys (pnu_ for users, pnb_ for service accounts; only a digest stored)."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Signs in with email; `handle` is the public, URL-safe name Cloud shows."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(unique=True, max_length=254)
    handle = models.SlugField(max_length=64, unique=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    created = models.DateTimeField(default=timezone.now)
    updated = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    actor_type = "user"

    def save(self, *args, **kwargs):
        if not self.handle:
            from apps.identity.services import unique_user_handle

            self.handle = unique_user_handle(self.email)
        super().save(*args, **kwargs)

    def __str__(self) -> str:
        return self.email


class ApiKey(models.Model):
    """An API key. The secret is `prefix + lookup + rest`; we keep `lookup` to find the row and a
    SHA-256 digest of the whole secret to compare in constant time. The secret itself is never stored.
    """

    USER_PREFIX = "pnu_"
    SERVICE_ACCOUNT_PREFIX = "pnb_"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=255)
    prefix = models.CharField(max_length=4)
    lookup = models.CharField(max_length=12, unique=True)
    digest = models.CharField(max_length=64)
    user = models.ForeignKey("identity.User", null=True, blank=True, on_delete=models.CASCADE, related_name="api_keys")
    service_account = models.ForeignKey(
        "organizations.ServiceAccount", null=True, blank=True, on_delete=models.CASCADE, related_name="api_keys"
    )
    created = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(models.Q(user__isnull=False, service_account__isnull=True, prefix="pnu_"))
                | (models.Q(user__isnull=True, service_account__isnull=False, prefix="pnb_")),
                name="api_key_has_exactly_one_owner",
            )
        ]
        indexes = [
            models.Index(fields=["user", "created"], name="api_key_user_created"),
            models.Index(fields=["service_account", "created"], name="api_key_sa_created"),
        ]

    @property
    def owner(self):
        return self.user if self.user_id else self.service_account

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    @property
    def display_prefix(self) -> str:
        return f"{self.prefix}{self.lookup}"

    def __str__(self) -> str:
        return f"{self.name} ({self.display_prefix}…)"
