"""The domain core: models, database selection and the services that hold every rule."""
