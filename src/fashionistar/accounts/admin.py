"""Admin pages of the accounts: Django's own user admin for the custom user model."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from fashionistar.accounts.models import User

admin.site.register(User, UserAdmin)
