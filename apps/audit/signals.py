"""Sign-in, failed sign-in and sign-out, from Django's auth signals (which allauth's flows send).

These are third-party events, so a receiver is the one place to hear them; our own actions call
`audit_record` explicitly in their services.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from apps.audit.services import RequestContext, audit_record_for_user


@receiver(user_logged_in, dispatch_uid="praetor.audit.logged_in")
def _logged_in(sender, request, user, **kwargs):
    audit_record_for_user(action="praetor.user.logged_in", user=user, actor=user, target=user, target_type="user",
                          context=RequestContext.from_request(request))


@receiver(user_logged_out, dispatch_uid="praetor.audit.logged_out")
def _logged_out(sender, request, user, **kwargs):
    if user is None:
        return
    audit_record_for_user(action="praetor.user.logged_out", user=user, actor=user, target=user, target_type="user",
                          context=RequestContext.from_request(request))


@receiver(user_login_failed, dispatch_uid="praetor.audit.login_failed")
def _login_failed(sender, credentials, request=None, **kwargs):
    # Django has already masked the password; the identifier is whatever was typed as login.
    login = str(credentials.get("email") or credentials.get("username") or credentials.get("login") or "")[:254]
    user = get_user_model().objects.filter(email__iexact=login).first() if login else None
    audit_record_for_user(
        action="praetor.user.login_failed", user=user, actor=AnonymousUser(), target_type="user",
        target_id=str(user.pk) if user else "", target_label=login,
        details={"known_user": user is not None}, context=RequestContext.from_request(request),
    )
