"""The rules of the programme. No aiogram types in, none out."""
