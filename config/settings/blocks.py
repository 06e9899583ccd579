"""Engine blocks: the keys that encrypt block documents' secret fields at rest (docs/blocks.md)."""

from config.env import env

# Comma-separated Fernet keys (urlsafe base64, 32 bytes). The first encrypts; all decrypt, so a new
# key is rotated in by putting it first and running `manage.py rotate_block_secrets`. Empty = one key
# derived from SECRET_KEY (the embedded default).
PRAETOR_BLOCK_ENCRYPTION_KEYS = env("PRAETOR_BLOCK_ENCRYPTION_KEYS", [], cast=list)
