"""The notify server: templated e-mail through a transactional outbox, SMTP or Amazon SES."""
