"""Browser pages, one module per area. Views are thin: resolve (base class) → call a service or
selector → render; domain errors become form errors or messages."""
