//! Milner's Calculus of Communicating Systems as a working tool (issue 5; under construction).
