//! Configuration choices: enums whose names are written once and read by serde (config
//! files), `FromStr` (command line, `--engine stored`) and error messages alike.

/// Declares a field-less enum of configuration choices, each variant with its name.
///
/// The enum gets serde (the names as written), `name()`, `ALL`, `NAMES`, `FromStr` (its
/// error lists the allowed names) and `Display`. A macro because serde's derive cannot
/// hand out a variant's name as `&'static str`, and writing the four impls per enum by
/// hand is what let the names drift apart before.
#[macro_export]
macro_rules! choice {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        $vis enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];
            /// Every name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// Name as written in configs and on the command line.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::Error;

            fn from_str(s: &str) -> $crate::Result<Self> {
                Self::ALL.iter().copied().find(|v| v.name() == s).ok_or_else(|| {
                    $crate::Error::InvalidConfig(format!(
                        "unknown value `{s}`; allowed values: {}",
                        Self::NAMES.join(", ")
                    ))
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::choice! {
        /// A test choice.
        #[derive(Default)]
        enum Colour {
            /// Red.
            #[default]
            Red = "red",
            /// Light blue.
            LightBlue = "light_blue",
        }
    }

    #[test]
    fn names_parse_print_and_serialise_alike() {
        for &c in Colour::ALL {
            assert_eq!(c.name().parse::<Colour>().unwrap(), c);
            assert_eq!(c.to_string(), c.name());
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.name()));
            assert_eq!(serde_json::from_str::<Colour>(&json).unwrap(), c);
        }
        let e = "blue".parse::<Colour>().unwrap_err().to_string();
        assert!(e.contains("`blue`") && e.contains("red, light_blue"), "{e}");
        assert_eq!(Colour::default(), Colour::Red);
    }
}
