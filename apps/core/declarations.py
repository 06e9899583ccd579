"""The class-creation check shared by the API's and the pages' base views.

Both declare `required_permissions = {METHOD: permission}` per served method and resolve the tenant
in methods that subclasses may not override; a view that breaks either rule fails at import time.
"""

from __future__ import annotations


def check_view_declaration(cls: type, protected: tuple[str, ...]) -> None:
    """Raise TypeError unless `cls` keeps `protected` methods and declares a permission per method."""
    if cls.__dict__.get("abstract"):
        return
    for name in protected:
        if name in cls.__dict__:
            raise TypeError(f"{cls.__name__} may not override {name}(): tenancy is resolved by the base view.")
    declared = cls.required_permissions
    if not isinstance(declared, dict):
        raise TypeError(f"{cls.__name__} must declare required_permissions.")
    missing = served_methods(cls) - set(declared)
    if missing:
        raise TypeError(f"{cls.__name__} declares no permission for {sorted(missing)}.")


def served_methods(cls: type) -> set[str]:
    """The HTTP methods a view class handles, upper-case, without OPTIONS and HEAD."""
    return {m.upper() for m in cls.http_method_names if hasattr(cls, m) and m not in ("options", "head")}
